// Routes. The workflow is in the URL (/w/:workflow/...), so every tab can be reloaded or its
// address shared with a colleague of the same clinic.
import { BrowserRouter, Navigate, Route, Routes } from 'react-router-dom';
import { AuthProvider } from './auth/AuthContext';
import { TenantProvider } from './tenant/TenantContext';
import { AppShell, RequireAuth } from './components/AppShell';
import { LoginPage } from './pages/LoginPage';
import { WorkflowPickerPage } from './pages/WorkflowPickerPage';
import { WorkflowScope } from './pages/WorkflowScope';
import { PatientListPage } from './pages/PatientListPage';
import { NewPatientPage } from './pages/NewPatientPage';
import { ImportPatientsPage } from './pages/ImportPatientsPage';
import { EditPatientPage } from './pages/EditPatientPage';
import { PatientDetailPage } from './pages/PatientDetailPage';
import { LiveCallPage } from './pages/LiveCallPage';
import { SessionPage } from './pages/SessionPage';
import { DashboardPage } from './pages/DashboardPage';
import { CampaignsPage } from './pages/CampaignsPage';
import { NewCampaignPage } from './pages/NewCampaignPage';
import { CampaignPage } from './pages/CampaignPage';
import { NotFoundPage } from './pages/NotFoundPage';
import { UsersPage } from './pages/UsersPage';
import { WebhooksPage } from './pages/WebhooksPage';
import { AccountPage } from './pages/AccountPage';
import { InvitePage, ResetPasswordPage } from './pages/AccountLinkPage';

export function AppRoutes() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      {/* one-time links an administrator passed on: no sign-in */}
      <Route path="/invite/:token" element={<InvitePage />} />
      <Route path="/reset/:token" element={<ResetPasswordPage />} />
      <Route
        element={
          <RequireAuth>
            <AppShell />
          </RequireAuth>
        }
      >
        <Route index element={<WorkflowPickerPage />} />
        <Route path="w/:workflow" element={<WorkflowScope />}>
          <Route index element={<Navigate to="patients" replace />} />
          <Route path="patients" element={<PatientListPage />} />
          <Route path="patients/new" element={<NewPatientPage />} />
          <Route path="patients/import" element={<ImportPatientsPage />} />
          <Route path="dashboard" element={<DashboardPage />} />
          <Route path="campaigns" element={<CampaignsPage />} />
          <Route path="campaigns/new" element={<NewCampaignPage />} />
          <Route path="*" element={<NotFoundPage />} />
        </Route>
        <Route path="patients/:id" element={<PatientDetailPage />} />
        <Route path="patients/:id/edit" element={<EditPatientPage />} />
        <Route path="sessions/:id" element={<SessionPage />} />
        <Route path="campaigns/:id" element={<CampaignPage />} />
        <Route path="calls/:sessionId/live" element={<LiveCallPage />} />
        <Route path="users" element={<UsersPage />} />
        <Route path="webhooks" element={<WebhooksPage />} />
        <Route path="account" element={<AccountPage />} />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  );
}

export function App() {
  return (
    <TenantProvider>
      <AuthProvider>
        <BrowserRouter>
          <AppRoutes />
        </BrowserRouter>
      </AuthProvider>
    </TenantProvider>
  );
}
